-- AlterTable
ALTER TABLE "MfaToken" ADD COLUMN     "amr" VARCHAR(8)[] DEFAULT ARRAY['pwd']::VARCHAR(8)[],
ADD COLUMN     "identityId" UUID,
ADD COLUMN     "idpSid" VARCHAR(255);

-- AlterTable
ALTER TABLE "Session" ADD COLUMN     "identityId" UUID,
ADD COLUMN     "idpSid" VARCHAR(255);

-- AlterTable
ALTER TABLE "User" ADD COLUMN     "email" VARCHAR(254),
ADD COLUMN     "emailVerified" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "verifiedEmailKey" VARCHAR(254),
ALTER COLUMN "passwordHash" DROP NOT NULL;

-- CreateTable
CREATE TABLE "Identity" (
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "provider" VARCHAR(32) NOT NULL,
    "issuer" VARCHAR(512) NOT NULL,
    "subject" VARCHAR(255) NOT NULL,
    "email" VARCHAR(254),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMPTZ(3),

    CONSTRAINT "Identity_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OidcTransaction" (
    "id" VARCHAR(64) NOT NULL,
    "provider" VARCHAR(32) NOT NULL,
    "binding" VARCHAR(64) NOT NULL,
    "mode" VARCHAR(8) NOT NULL,
    "returnTo" VARCHAR(2048) NOT NULL,
    "codeVerifier" VARCHAR(128) NOT NULL,
    "nonce" VARCHAR(64) NOT NULL,
    "linkUserId" UUID,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "usedAt" TIMESTAMPTZ(3),

    CONSTRAINT "OidcTransaction_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OidcLoginCode" (
    "codeHash" VARCHAR(64) NOT NULL,
    "userId" UUID NOT NULL,
    "passwordVersion" INTEGER NOT NULL,
    "identityId" UUID NOT NULL,
    "idpSid" VARCHAR(255),
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "usedAt" TIMESTAMPTZ(3),

    CONSTRAINT "OidcLoginCode_pkey" PRIMARY KEY ("codeHash")
);

-- CreateTable
CREATE TABLE "OidcSeenToken" (
    "key" VARCHAR(64) NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "OidcSeenToken_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "Identity_userId_idx" ON "Identity"("userId");

-- CreateIndex
CREATE UNIQUE INDEX "Identity_issuer_subject_key" ON "Identity"("issuer", "subject");

-- CreateIndex
CREATE INDEX "OidcTransaction_expiresAt_idx" ON "OidcTransaction"("expiresAt");

-- CreateIndex
CREATE INDEX "OidcLoginCode_expiresAt_idx" ON "OidcLoginCode"("expiresAt");

-- CreateIndex
CREATE INDEX "OidcSeenToken_expiresAt_idx" ON "OidcSeenToken"("expiresAt");

-- CreateIndex
CREATE INDEX "Session_identityId_idx" ON "Session"("identityId");

-- CreateIndex
CREATE UNIQUE INDEX "User_verifiedEmailKey_key" ON "User"("verifiedEmailKey");

-- AddForeignKey
ALTER TABLE "Session" ADD CONSTRAINT "Session_identityId_fkey" FOREIGN KEY ("identityId") REFERENCES "Identity"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Identity" ADD CONSTRAINT "Identity_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
