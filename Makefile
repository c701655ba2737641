# The two commands of the README's quick start, and a few for developers.
.PHONY: demo test soak build clean

PYTHON ?= python3
# Where `make demo` installs horus (the same virtual environment `make test`
# uses): Debian and Ubuntu refuse `pip install` into the system Python.
VENV ?= .venv
# The demo's model is a PyTorch CNN when PyTorch is installed, a NumPy
# stand-in otherwise; `make demo DEMO_EXTRAS=` skips the PyTorch download.
DEMO_EXTRAS ?= [torch]
DEMO_ARGS ?=

# Install the package into $(VENV) and run the main job: the two-process ML
# pipeline demo.
demo:
	@"$(VENV)/bin/python" -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv "$(VENV)" || { \
	  echo "make demo: cannot create a virtual environment with $(PYTHON);" \
	       "on Debian/Ubuntu: sudo apt-get install python3-venv" >&2; exit 1; }
	"$(VENV)/bin/python" -m pip install -q --upgrade pip
	"$(VENV)/bin/python" -m pip install ".$(DEMO_EXTRAS)"
	@echo "make demo: horus is installed in the virtual environment $(abspath $(VENV))"
	@echo "make demo: use it with: . $(VENV)/bin/activate  (or run $(VENV)/bin/python)"
	"$(VENV)/bin/horus" demo $(DEMO_ARGS)

# Install what the tests need and run every test (C plain and sanitized, Python).
test:
	bash scripts/test.sh

# The long robustness run: 60 s soak with random kills, crash matrix, 5 min per fuzzer.
soak:
	bash scripts/soak.sh

# Build the C library, tests and tools alone.
build:
	cmake -S . -B build/dev -G Ninja && cmake --build build/dev

clean:
	rm -rf build dist *.egg-info
