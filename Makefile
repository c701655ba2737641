# The two commands of the README's quick start, and a few for developers.
.PHONY: demo test soak build clean

# Install the package and run the main job: the two-process ML pipeline demo.
demo:
	python3 -m pip install . && horus demo

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
