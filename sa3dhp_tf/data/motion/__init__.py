"""Motion sources: procedural generator, BVH and ASF/AMC readers -> H36M-17 world poses."""
