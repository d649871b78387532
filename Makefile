# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Each creates .venv and installs what it needs by itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXTRAS ?= cpu,dev,datasets
comma := ,
# one stamp per extras set (defined after `comma`: := expands at once)
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: test demo venv clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# both OpenCV builds own the cv2 folder: remove the plain one first (older venvs had it)
	$(PY) -m pip uninstall -q -y opencv-python-headless opencv-python 2>/dev/null || true
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	$(PY) -m pip install -q --no-deps 'tensorflow-serving-api==2.21.*'
	touch $@

venv: $(STAMP)

# --dist loadscope: a module's tests share one worker, so its module fixtures (tiny benchmarks,
# stage chains) are built once, not once per worker (docs/performance.md, "Test suite")
test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -n 2 --dist loadscope --durations=15 tests

demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 bash tools/demo.sh

clean:
	rm -rf $(VENV) build *.egg-info
