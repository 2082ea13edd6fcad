"""Reference adapters: build the reference module from a case, share weights with ours, and run
both while capturing every per-step state truthfully."""
