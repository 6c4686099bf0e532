# syntax=docker/dockerfile:1
# Multi-stage: build (dev deps: generates the Prisma client and compiles the
# TypeScript), production deps only, then a slim runtime that runs the
# compiled JavaScript as a non-root user.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
# The embedded database's template (src/db/pglite-template.ts): made here, so
# that a container's first start copies it instead of running initdb.
RUN node dist/db/pglite-template.js

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data \
    MIGRATE_ON_START=true \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
COPY --from=build /app/.cache ./.cache
COPY prisma ./prisma
COPY data ./data
# The admin console's pages, and the client library they load (served with their types stripped).
COPY admin-console ./admin-console
COPY client ./client
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Migrations are applied at start (MIGRATE_ON_START), safely with several replicas.
CMD ["node", "--max-semi-space-size=2", "--liftoff-only", "dist/server.js"]
