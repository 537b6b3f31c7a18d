# Brisk: fast write path for short-lived containers.
# Every target that runs real daemons needs root (mounts, containerd, runc).

GO        ?= go
TOOLS_DIR ?= /opt/brisk/tools
PREFIX    ?= /usr/local
BIN       := $(CURDIR)/bin
PKGS      := ./...
CMDS      := $(notdir $(wildcard cmd/*))
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# briskctl --version and containerd-shim-brisk-v2 -v (containerd's shim
# library prints containerd's version variable) print the same string;
# briskctl doctor compares them.
LDFLAGS   := -X github.com/brisk-containers/brisk/internal/version.Version=$(VERSION) \
	-X github.com/containerd/containerd/v2/version.Version=$(VERSION)

export TOOLS_DIR
export BRISK_BIN_DIR := $(BIN)
# Tests find containerd, runc, ctr, crictl and minio here.
export PATH := $(BIN):$(TOOLS_DIR)/bin:$(PATH)

.PHONY: all build tools test unit integration bench demo install image lint clean

all: build

build:
	@mkdir -p $(BIN)
	@for c in $(CMDS); do \
		echo "go build -o bin/$$c ./cmd/$$c"; \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/$$c ./cmd/$$c || exit 1; \
	done

tools:
	TOOLS_DIR=$(TOOLS_DIR) ./hack/install-tools.sh

# Unit and integration tests, against the real containerd, runc and MinIO.
test: tools build
	$(GO) test -count=1 -timeout 75m -p 1 $(PKGS)

unit: build
	$(GO) test -count=1 -timeout 20m $$($(GO) list $(PKGS) | grep -v /integration)

integration: tools build
	$(GO) test -count=1 -timeout 60m -v ./integration/...

bench: tools build
	./hack/bench.sh

demo: tools build
	./hack/demo.sh

install: build
	install -D -m 0755 $(BIN)/brisk-snapshotter $(DESTDIR)$(PREFIX)/bin/brisk-snapshotter
	install -D -m 0755 $(BIN)/brisk-logd $(DESTDIR)$(PREFIX)/bin/brisk-logd
	install -D -m 0755 $(BIN)/briskctl $(DESTDIR)$(PREFIX)/bin/briskctl
	@if [ -x $(BIN)/containerd-shim-brisk-v2 ]; then \
		install -D -m 0755 $(BIN)/containerd-shim-brisk-v2 $(DESTDIR)$(PREFIX)/bin/containerd-shim-brisk-v2; fi
	@if [ ! -e $(DESTDIR)/etc/brisk/config.toml ]; then \
		install -D -m 0644 contrib/config/brisk.toml $(DESTDIR)/etc/brisk/config.toml; \
	else echo "keeping existing /etc/brisk/config.toml"; fi
	install -D -m 0644 contrib/systemd/brisk-snapshotter.service $(DESTDIR)/etc/systemd/system/brisk-snapshotter.service
	install -D -m 0644 contrib/systemd/brisk-logd.service $(DESTDIR)/etc/systemd/system/brisk-logd.service
	install -D -m 0644 contrib/systemd/containerd.service.d/brisk.conf $(DESTDIR)/etc/systemd/system/containerd.service.d/brisk.conf
	install -D -m 0644 contrib/systemd/brisk-logs-gc.service $(DESTDIR)/etc/systemd/system/brisk-logs-gc.service
	install -D -m 0644 contrib/systemd/brisk-logs-gc.timer $(DESTDIR)/etc/systemd/system/brisk-logs-gc.timer
	@echo "Next: merge contrib/containerd/config-v3.toml into /etc/containerd/config.toml, then"
	@echo "  systemctl daemon-reload && systemctl enable --now brisk-snapshotter brisk-logd && systemctl restart containerd"
	@echo "S3: set [logs.s3] bucket, put credentials in /etc/brisk/s3.env (0600; containerd's shims and brisk-logd read it) unless the node has a role, run briskctl bucket init."
	@echo "Logs from other hosts: brisk-logd serves /run/brisk/logd.sock; set [logs.api] listen and tokens_file (and peers) to serve the network."
	@echo "No bucket: systemctl enable --now brisk-logs-gc.timer keeps local_dir to 24 h."

# Brisk's node image (binaries + brisk-installer) as an OCI archive, built by
# Go alone: no Docker. IMAGE_NAME is the reference it is tagged with.
IMAGE_NAME ?= ghcr.io/brisk-containers/brisk:latest
image: build
	$(GO) run ./hack/briskimage -bin $(BIN) -out $(BIN)/brisk-image.tar -name $(IMAGE_NAME)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf $(BIN)
