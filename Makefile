# The README's commands. `make test` is what CI runs (through .ci/run,
# which first installs the system packages the cross-checks need).

.PHONY: test fuzz-build

test:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace

# Builds the cargo-fuzz targets (needs a nightly toolchain and cargo-fuzz).
fuzz-build:
	cd dataplane/fuzz && cargo +nightly fuzz build
	cd controlplane/protocol/fuzz && cargo +nightly fuzz build
