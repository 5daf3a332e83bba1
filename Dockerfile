# syntax=docker/dockerfile:1
# yzh-recon: build with dev dependencies, run with production dependencies only.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
# --ignore-scripts: the prepare script (tsc) needs src/, which is copied below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim AS runtime
# tini as PID 1: forwards SIGTERM to node and reaps children, so the run's own handler
# (roll back, record "interrupted", release the lock, exit 143) gets the signal.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    YZH_TMP_DIR=/tmp \
    PGLITE_DIR=/tmp/pglite
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY sql ./sql
COPY fixtures ./fixtures
# The image's unprivileged "node" user (uid 1000); no secrets are baked in: keys and the
# database URL come from the environment (a Kubernetes Secret) at run time.
USER 1000:1000
# The node flag is the one on the first line of src/cli/main.ts (a test keeps them equal).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=1", "/app/dist/cli/main.js"]
CMD ["run", "--trigger", "schedule"]
