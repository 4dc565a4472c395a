# syntax=docker/dockerfile:1
#
# The tripkey image: `tripkey serve` by default, every other subcommand available.
#
#   docker build -t tripkey .        # BuildKit (the default builder of Docker 23 and later)
#   docker run --rm --read-only --tmpfs /tmp -p 8470:8470 \
#     -v "$PWD/tripkey.toml:/etc/tripkey/tripkey.toml:ro" -v tripkey-data:/var/lib/tripkey tripkey
#
# docs/deploy.md says how to run it (volumes, secrets, probes, Kubernetes).

# The compiler is the one rust-toolchain.toml pins; the build stops if the two disagree.
ARG RUST_VERSION=1.95.0

# ------------------------------------------------------------------------------------------
# Build. Bookworm on purpose: the plain `rust:VERSION` tag is Debian trixie (glibc 2.41), and a
# binary linked there may need glibc symbols that the Debian 12 runtime below (glibc 2.36) does
# not have. The slim image has what the build needs: gcc and libc6-dev for the bundled SQLite,
# zlib-rs needs none, and aws-lc-sys builds with cc alone (no cmake, no OpenSSL).
FROM rust:${RUST_VERSION}-slim-bookworm AS build
ARG RUST_VERSION
# The toolchain of the image, whatever rust-toolchain.toml says: without this, rustup would
# download the rustfmt and clippy components the file lists (the build needs neither).
ENV RUSTUP_TOOLCHAIN=${RUST_VERSION} \
    CARGO_TARGET_DIR=/build/target \
    CARGO_TERM_COLOR=never
WORKDIR /src
# .dockerignore lets in only the manifests, the lock file, the toolchain file and the
# crates' sources.
COPY . .
RUN grep -qx "channel = \"${RUST_VERSION}\"" rust-toolchain.toml \
    || { echo "rust-toolchain.toml pins another channel than RUST_VERSION=${RUST_VERSION}:" \
              "build with --build-arg RUST_VERSION=<its channel>" >&2; exit 1; }
# Dependency caching: cargo's registry, git checkouts and target directory live in BuildKit
# cache mounts, which outlive the layer. A source change recompiles the workspace's own
# crates only; the 400-odd dependencies stay compiled. The mounts are not part of any layer, so
# the binary is copied out of them in the same step. `sharing=locked` keeps two concurrent
# builds from writing the same target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/build/target,sharing=locked \
    cargo build --release --locked -p tripkey \
    && install -D -m 0755 /build/target/release/tripkey /out/usr/local/bin/tripkey \
    && install -d -m 0700 /out/var/lib/tripkey

# ------------------------------------------------------------------------------------------
# Run. distroless/cc rather than debian:bookworm-slim: `ldd tripkey` lists only libc, libm,
# libgcc_s and the loader (TLS is rustls with aws-lc, SQLite and zlib are compiled in), which
# is exactly what cc-debian12 holds, with CA certificates and tzdata. It has no shell, no
# package manager and no coreutils for someone who gets code execution to use; the cost is
# that nothing can run a HEALTHCHECK inside it (hence none: see below).
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="tripkey" \
      org.opencontainers.image.description="Canary AWS credentials, CloudTrail detection and alerting" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /out/usr/local/bin/tripkey /usr/local/bin/tripkey
# The data directory, owned by the runtime user: the SQLite database (with its -wal and -shm
# files) goes here. Mount a volume on it (a new named volume takes this owner and mode); the
# rest of the file system can be read-only. There is no VOLUME instruction on purpose: with
# one, a container started without a volume would keep its database in an anonymous volume
# that the next container does not see; without one, a read-only container without a volume
# stops at start with the path it could not create the database in.
COPY --from=build --chown=65532:65532 /out/var/lib/tripkey /var/lib/tripkey

# XDG_DATA_HOME moves the default database (~/.local/share/tripkey/tripkey.db, read-only here)
# to /var/lib/tripkey/tripkey.db. It is only the default: `[store] path`, TRIPKEY_DB and --db
# still choose another.
# TRIPKEY_LISTEN: all interfaces, so the port can be published and probed. It overrides
# `[serve] listen` (the environment wins over the file); set it to change the address.
ENV XDG_DATA_HOME=/var/lib \
    TRIPKEY_LISTEN=0.0.0.0:8470

# distroless's `nonroot` user, by number, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# The HTTP listener: /healthz, /metrics, /status, POST /ingest, /api/v1 and the dashboard.
EXPOSE 8470

# No HEALTHCHECK: the image has no shell or HTTP client to run one, and `tripkey status` is no
# health check (it needs a token and fails on an unhealthy sink). Probe GET /healthz from the
# orchestrator instead (deploy/kubernetes/deployment.yaml, docs/deploy.md).

# serve stops cleanly on SIGTERM (Docker's default stop signal): it finishes the batches in
# flight and exits. It starts no child processes, so it needs no init as PID 1.
ENTRYPOINT ["/usr/local/bin/tripkey"]
CMD ["serve", "--config", "/etc/tripkey/tripkey.toml"]
