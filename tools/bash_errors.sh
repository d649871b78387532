# Sourced by the tools' bash scripts: the project's error contract (README "Errors") for the
# checks they make themselves. Set USAGE first.
#   need NAME VALUE WHAT   a required argument or environment variable NAME: when VALUE is empty,
#                          one `error:` line naming NAME and WHAT, with the usage, exit status 2
#   usage_error MESSAGE    the same line for any other bad argument
usage_error() { echo "error: $1 (usage: $USAGE)" >&2; exit 2; }
need() { [ -n "$2" ] || usage_error "$1: $3"; }
