# syntax=docker/dockerfile:1
# The fleet agent, for hosts that run their services in containers (and for the compose demo).
# In a container it reports the container's view (its cgroup's processes, its network namespace);
# mount the host's /proc read-only and run it with the host's PID namespace for the host's view,
# or install it on the host as a service (`agent install`), which is what it is made for.
#
# Build (from the repository root):   docker build -f docker/agent.Dockerfile -t fleet-agent .
# The base images and BINARIES=prebuilt work as in docker/Dockerfile (CONTEXT/prebuilt/agent).
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG BINARIES=build

FROM ${SWIFT_IMAGE} AS build
WORKDIR /src
COPY Package.swift ./
RUN swift package resolve
COPY . .
RUN swift build -c release --static-swift-stdlib --product agent \
    && mkdir -p /out \
    && strip -o /out/agent "$(swift build -c release --static-swift-stdlib --show-bin-path)/agent"

FROM scratch AS prebuilt
COPY prebuilt/agent /out/agent

# hadolint ignore=DL3006
FROM ${BINARIES} AS binaries

FROM ${RUNTIME_IMAGE}
# Not pinned (DL3008): bookworm's security updates should land at the next build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 fleet \
    && useradd --uid 10001 --no-create-home --gid fleet --home-dir /var/lib/fleet-agent --shell /usr/sbin/nologin fleet \
    && install -d -o fleet -g fleet -m 0700 /var/lib/fleet-agent
COPY --from=binaries /out/agent /usr/local/bin/agent
# Its id and credential (0600) live in the volume, so a recreated container is the same agent.
ENV FLEET_AGENT_AGENT_STATE_DIR=/var/lib/fleet-agent \
    FLEET_AGENT_LOGGING_DIR=/var/lib/fleet-agent/logs
WORKDIR /var/lib/fleet-agent
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
STOPSIGNAL SIGTERM
# No HEALTHCHECK: the agent listens on nothing. Its health is what the master sees (online,
# or offline after heartbeat.timeout), and an exit is the runtime's restart policy's business.
ENTRYPOINT ["agent"]
CMD ["run"]
