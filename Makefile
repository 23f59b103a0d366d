# Sward build, run and test entry points. `make run` and `make test` are the two
# commands the README opens with; .ci/run calls `make test` and nothing else.

GO        ?= go
BIN       := bin
ARTIFACTS := build/artifacts
RUN_ROOT  := $(CURDIR)/.run/root
LDFLAGS   := -s -w
PKGS      := ./...
MODULE    := github.com/sward-iot/sward

# The Lambdas (lambdas/cmd/<name>) and where `make lambdas` puts each one's
# `bootstrap`, the folder infra/ deploys. They run on Graviton, linux/arm64
# as the stack declares; `make lambdas GOARCH=amd64` builds for an x86 host's
# runtime interface emulator instead (never deploy those).
LAMBDAS      := telemetry release deployment-events
LAMBDA_DIST  := dist/lambdas
LAMBDA_ARCH  := $(if $(filter environment command,$(firstword $(origin GOARCH))),$(GOARCH),arm64)

# The CDK app runs through jsii on the machine's Node 20; these keep its
# deprecation banners out of test output.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: all modules build build-arm64 devcloud artifacts lambdas synth deploy run dev test tools fmt-check vet unit infra integration fuzz perf perf-baseline clean

all: build

## modules: the Go modules of go.sum in the module cache (quick once there)
modules:
	@echo "modules: go mod download (the first time on a machine, a few minutes of downloads)"
	@$(GO) mod download

## build: the nucleus for this host at bin/sward
build: modules
	@echo "build: bin/sward (the first build compiles every dependency: a few minutes)"
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/sward ./edge/cmd/sward

## build-arm64: a static linux/arm64 nucleus for the Orange Pi 5 at bin/linux-arm64/sward
build-arm64:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/linux-arm64/sward ./edge/cmd/sward

## devcloud: the local stand-in for the SwardCloud stack at bin/devcloud (infra/README.md), and
## bin/aws-lambda-rie, the Lambda runtime interface emulator it runs the Lambdas under
devcloud: modules
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/devcloud ./infra/devcloud/cmd/devcloud
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/aws-lambda-rie github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie

## artifacts: the sample components' binaries in <artifacts>/<Name>/<Version>/ (greengrass-cli layout)
artifacts: modules
	@echo "artifacts: the sample components in $(ARTIFACTS)"
	$(GO) run ./recipes/cmd/build-artifacts -recipes recipes -out $(ARTIFACTS)

## lambdas: each Lambda's static `bootstrap` in dist/lambdas/<name>/ (provided.al2023)
lambdas:
	@for name in $(LAMBDAS); do \
		echo "lambdas: $(LAMBDA_DIST)/$$name/bootstrap (linux/$(LAMBDA_ARCH))"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags '$(LDFLAGS)' \
			-o $(LAMBDA_DIST)/$$name/bootstrap ./lambdas/cmd/$$name || exit 1; \
	done

## synth: the CloudFormation template in cdk.out/ (see infra/README.md)
synth: lambdas node_modules/.installed
	npx cdk synth --quiet

## deploy: the stack to the account and region of the AWS credentials in use
deploy: lambdas node_modules/.installed
	npx cdk deploy --all

## run: the nucleus with the sample components in a development root (Ctrl-C stops everything)
run: build artifacts
	@mkdir -p $(RUN_ROOT)
	@echo "sward: root $(RUN_ROOT) — component logs in $(RUN_ROOT)/logs, try: $(BIN)/sward component list --root $(RUN_ROOT)"
	exec $(BIN)/sward run --root $(RUN_ROOT) --recipes recipes --artifacts $(ARTIFACTS)

## dev: devcloud, a thing provisioned in it and the nucleus connected to it, each commit of recipes/ published and deployed to it through its job
## (infra/devcloud/dev.sh; Ctrl-C stops everything). The Lambdas are built for this host's emulator.
dev: build artifacts devcloud
	$(MAKE) lambdas synth GOARCH=$$($(GO) env GOARCH)
	exec infra/devcloud/dev.sh

## test: formatting, vet, unit tests (-race), the CDK app and integration tests
test: tools node_modules/.installed modules fmt-check vet unit infra integration

# PIP installs the Python tools; python3 -m pip is the pip of the python3 on PATH.
PIP ?= python3 -m pip

## tools: what the tests run besides Go and Node, each installed when missing:
## git (apt-get) for --git deployments, moto_server and cfn-lint (pip) for
## the cloud, export and infra tests, mosquitto-clients (apt-get) for the
## devcloud jobs test, mosquitto (apt-get; Debian puts it in /usr/sbin) as
## the mutual-TLS IoT Core stand-in of the edge/iotcore tests, the AWS CLI v1
## and boto3 (pip) for the token exchange test's components. A test never
## skips for a missing tool.
tools:
	@command -v git >/dev/null || { echo "tools: git is missing: apt-get install git"; apt-get update -qq && apt-get install -y -qq git; }
	@command -v moto_server >/dev/null || { echo "tools: moto_server is missing: pip install 'moto[server]'"; $(PIP) install 'moto[server]'; }
	@command -v cfn-lint >/dev/null || { echo "tools: cfn-lint is missing: pip install cfn-lint"; $(PIP) install cfn-lint; }
	@command -v aws >/dev/null && python3 -c 'import boto3' 2>/dev/null || { echo "tools: the AWS CLI or boto3 is missing: pip install awscli boto3"; $(PIP) install awscli boto3; }
	@command -v mosquitto_rr >/dev/null || { echo "tools: mosquitto clients are missing: apt-get install mosquitto-clients"; apt-get update -qq && apt-get install -y -qq mosquitto-clients; }
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || { echo "tools: mosquitto is missing: apt-get install mosquitto"; apt-get update -qq && apt-get install -y -qq mosquitto; }

## node_modules: the pinned aws-cdk CLI and AWS IoT Device SDK v2 (package.json); its postinstall
## keeps go ./... out of it
node_modules/.installed: package.json package-lock.json
	@echo "npm: npm ci (the pinned aws-cdk CLI and aws-iot-device-sdk-v2 into node_modules)"
	npm ci --no-audit --no-fund
	touch $@

fmt-check:
	@echo "fmt-check: gofmt -l"
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	@echo "vet: go vet ./... (the first time compiles every package: minutes)"
	@$(GO) vet $(PKGS)

# infra/ has no concurrency of its own and -race doubles its jsii-bound
# test time, so it runs without the race detector.
unit:
	@echo "unit: go test -race of every package but test/ and infra/ (minutes)"
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e '^$(MODULE)/test' -e '^$(MODULE)/infra')

# The synth, cfn-lint and moto deploy tests use the real Lambda builds.
infra: node_modules/.installed lambdas
	@echo "infra: go test ./infra/... (cdk synth, cfn-lint, cdk deploy into moto: minutes)"
	$(GO) test -count=1 ./infra/...

integration:
	@echo "integration: go test ./test/... against the real sward binary and servers (minutes)"
	$(GO) test -count=1 -timeout 20m ./test/...

## fuzz: a short run of the recipe parser fuzz target
fuzz:
	$(GO) test ./shared/recipe -run '^$$' -fuzz FuzzParse -fuzztime 60s

## perf: the figures recorded in docs/performance.md; BASELINE=<git revision>
## also builds that revision as bin/sward-<revision> and measures the start and
## components figures of both in the same run, interleaved
BASELINE ?=
perf: build $(if $(BASELINE),perf-baseline)
	$(GO) run ./test/perf -sward $(BIN)/sward $(if $(BASELINE),-baseline $(BIN)/sward-$(BASELINE))

# perf-baseline builds BASELINE from git (git archive into build/baseline),
# leaving the work tree alone.
perf-baseline:
	@test -n "$(BASELINE)" || { echo "perf-baseline: set BASELINE=<git revision>, e.g. make perf BASELINE=main"; exit 1; }
	@echo "perf-baseline: $(BIN)/sward-$(BASELINE) from git revision $(BASELINE)"
	rm -rf build/baseline && mkdir -p build/baseline
	git archive --format=tar $(BASELINE) | tar -x -C build/baseline
	cd build/baseline && $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(CURDIR)/$(BIN)/sward-$(BASELINE) ./edge/cmd/sward
	rm -rf build/baseline

clean:
	rm -rf $(BIN) build dist .run cdk.out node_modules
