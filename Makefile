# FHIRGate — the two commands a newcomer needs:
#   make demo   set up and run the gateway in demo mode
#   make test   set up and run the tests
SWIFT ?= swift
APT_PACKAGES := libhiredis-dev redis-server pkg-config
SCRATCH ?= .build

.PHONY: deps build release test policy-test demo check fuzz fuzz-smoke bench clean

# Installs the system packages the build and tests need (when root), or says how.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing packages:$$missing"; echo "run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

build: deps
	$(SWIFT) build --scratch-path $(SCRATCH)

release: deps
	$(SWIFT) build -c release --scratch-path $(SCRATCH)

test: deps
	$(SWIFT) build --build-tests --scratch-path $(SCRATCH)
	$(SWIFT) test --skip-build --scratch-path $(SCRATCH)
	$(SCRATCH)/debug/fhirgate policy test Policies

# Runs every *.tests.yaml in Policies/ against its policy.
policy-test: build
	$(SCRATCH)/debug/fhirgate policy test Policies

demo: build
	$(SCRATCH)/debug/fhirgate demo

check: build
	$(SCRATCH)/debug/fhirgate check --config Config/fhirgate.yaml

# Fuzzing the request-side parsers and decisions with libFuzzer (see Fuzz/).
FUZZ_SCRATCH ?= .build-fuzz
FUZZ_BIN = $(FUZZ_SCRATCH)/release/FuzzRequest
FUZZ_SECONDS ?= 600

$(FUZZ_BIN): $(wildcard Sources/FHIRGateCore/*.swift Sources/FHIRGateCore/*/*.swift Fuzz/Sources/*/*.swift)
	rm -f $(FUZZ_SCRATCH)/*/release/description.json
	$(SWIFT) build --package-path Fuzz --scratch-path $(FUZZ_SCRATCH) -c release -Xswiftc -sanitize=fuzzer,address

fuzz: $(FUZZ_BIN)
	mkdir -p .fuzz-corpus && SWIFT_BACKTRACE=enable=no $(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 .fuzz-corpus Fuzz/corpus/request

fuzz-smoke: $(FUZZ_BIN)
	tmp=$$(mktemp -d) && SWIFT_BACKTRACE=enable=no $(FUZZ_BIN) -max_total_time=20 -print_final_stats=1 $$tmp Fuzz/corpus/request; rc=$$?; rm -rf $$tmp; exit $$rc

# Hot-path micro-benchmarks (release build).
bench: deps
	Benchmarks/run.sh

clean:
	rm -rf $(SCRATCH) .build-fuzz .build-bench .fuzz-corpus .fhirgate-demo
