-- Exact revocation: a per-user token version replaces the whole-second cut-off.
-- A user who had a cut-off starts at version 1, so every token issued before
-- this migration (they carry no version, read as 0) is refused for them.
DROP INDEX "User_tokensValidAfter_idx";

ALTER TABLE "User" RENAME COLUMN "tokensValidAfter" TO "tokensRevokedAt";
ALTER TABLE "User" ADD COLUMN "tokenVersion" INTEGER NOT NULL DEFAULT 0;
UPDATE "User" SET "tokenVersion" = 1 WHERE "tokensRevokedAt" IS NOT NULL;

CREATE INDEX "User_tokensRevokedAt_idx" ON "User"("tokensRevokedAt");
