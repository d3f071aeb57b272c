# syntax=docker/dockerfile:1
# tsbuild in a small image: the compiled executable (`npm run build` writes dist/tsbuild) on
# Debian 12 slim, whose coreutils (cp, chroot), util-linux (setpriv, setsid) and bash it drives.
#
#   npm run build && tsbuild build -t tsbuild:dev .      (docker build -t tsbuild:dev . works too)
#
# In a container with docker's default privileges (a Kubernetes pod, a GitLab runner) RUN steps
# need --isolation chroot; with --privileged the default runc isolation works if runc is added.
# BASE: another Debian 12 (bookworm) image with glibc, coreutils, util-linux and bash.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
COPY --chmod=755 dist/tsbuild /usr/local/bin/tsbuild
WORKDIR /workspace
ENTRYPOINT ["/usr/local/bin/tsbuild"]
CMD ["--help"]
