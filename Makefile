# Herald. `make` lists the targets.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

.PHONY: run
run: ## run Herald on :8080 with SQLite in ~/.local/share/herald
	go run -ldflags "$(LDFLAGS)" ./cmd/herald serve

.PHONY: build
build: ## build bin/herald
	go build -ldflags "$(LDFLAGS)" -o bin/herald ./cmd/herald

.PHONY: test
test: ## run every test (starts PostgreSQL and installs test packages if needed)
	./scripts/test.sh

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

.PHONY: bench
bench: ## run the Go benchmarks
	go test -run '^$$' -bench . -benchmem ./...
