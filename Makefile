# make demo: a real local Liftbridge server and an end-to-end run against it.
# make lab: a real local Liftbridge server and JupyterLab (127.0.0.1:8888) on a scratch copy of the
#   notebooks in build/lab/notebooks/ (a copy you changed is kept; see scripts/lab.py).
# make docs: the API reference and the notebooks, run against a real local server, as HTML in
#   build/docs/html/ (Sphinx warnings and failing cells are errors).
# make test: lint, docs, then every test against real servers (local node, 3-node cluster, Docker).
# They install what they need on first use and cache it: the Python venv in .venv/, the
# Go-built server in ~/.cache/liftbridge-nb/ (LIFTBRIDGE_NB_CACHE), a Docker engine in build/docker/.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The native module (native/, Rust): built by maturin with the machine's cargo into liftbridge_nb/.
NATIVE_SOURCES := native/Cargo.toml native/Cargo.lock $(wildcard native/src/*.rs)
CARGO_BIN := $(HOME)/.cargo/bin
DOCKER_DIR := build/docker
# Line coverage of the package, notebook kernels included; under 85% fails (`make test COV=` skips it).
COV ?= --cov=liftbridge_nb --cov-report=term

.PHONY: soak demo docs test lint proto server server-bin bench install lab

install: $(INSTALLED)

# setuptools says "Editable installation. Please be careful with folders in your working directory..."
# as a Python warning, which pip shows even with -q; it is information only. This filter drops that one
# message (pip and the build backend both read PYTHONWARNINGS) and nothing else.
QUIET_EDITABLE := PYTHONWARNINGS='ignore:Editable installation'

# The editable install builds the native module too (maturin, a release build: about 2 minutes on 2
# cores the first time); a change under native/ rebuilds it (cargo rebuilds only what changed).
$(INSTALLED): pyproject.toml $(NATIVE_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	PATH=$(CURDIR)/$(BIN):$(CARGO_BIN):$$PATH $(QUIET_EDITABLE) $(BIN)/pip install -q -e '.[dev]'
	touch $@

server-bin: $(INSTALLED)
	$(BIN)/liftbridge-nb install-server

demo: server-bin
	$(BIN)/python scripts/demo.py

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd native && PATH=$(CARGO_BIN):$$PATH cargo fmt --check
	cd native && PATH=$(CARGO_BIN):$$PATH cargo clippy --release --all-targets -- -D warnings
	cd native && PATH=$(CARGO_BIN):$$PATH cargo test --release

docs: server-bin
	$(BIN)/python scripts/docs.py

test: server-bin lint docs
	scripts/chromium.sh
	@host=$$(scripts/docker-engine.sh start $(DOCKER_DIR)) || exit 1; \
	trap 'scripts/docker-engine.sh stop $(DOCKER_DIR)' EXIT; \
	DOCKER_HOST=$$host TESTCONTAINERS_RYUK_DISABLED=true $(BIN)/pytest $(COV) $(PYTEST_ARGS)

lab: server-bin
	$(BIN)/python scripts/lab.py

proto: $(INSTALLED)
	$(BIN)/python tools/gen_proto.py

server: server-bin
	$(BIN)/liftbridge-nb server --nodes $(or $(NODES),1)

# make soak: SOAK_SECONDS (600) of publishing and subscribing through leader kills on a local cluster.
SOAK_SECONDS ?= 600
soak: server-bin
	SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/pytest -m soak -s -p no:cacheprovider tests/test_client.py

# make bench: liftbridge-nb against go-liftbridge, python-liftbridge and gufo-liftbridge on a local server;
# prints the table and writes bench/RESULTS.md (BENCH_ARGS="--messages 100000 --rounds 1" for a quick run).
BENCH := build/bench
bench: server-bin $(BENCH)/liftbridge-bench-go $(BENCH)/venv-python-liftbridge/.installed $(BENCH)/venv-gufo/.installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)

$(BENCH)/liftbridge-bench-go: bench/peers/go/main.go bench/peers/go/go.mod bench/peers/go/go.sum
	cd bench/peers/go && CGO_ENABLED=0 go build -trimpath -o ../../../$@ .

# python-liftbridge 0.0.7 needs protobuf <= 3.20, named explicitly; gufo-liftbridge needs a newer one.
$(BENCH)/venv-python-liftbridge/.installed:
	$(PYTHON) -m venv $(BENCH)/venv-python-liftbridge
	$(BENCH)/venv-python-liftbridge/bin/pip install -q python-liftbridge==0.0.7 protobuf==3.20.3
	touch $@

$(BENCH)/venv-gufo/.installed:
	$(PYTHON) -m venv $(BENCH)/venv-gufo
	$(BENCH)/venv-gufo/bin/pip install -q gufo-liftbridge==0.2.0
	touch $@
