-- CreateTable
CREATE TABLE "SigningKey" (
    "kid" VARCHAR(64) NOT NULL,
    "alg" VARCHAR(16) NOT NULL,
    "publicJwk" JSONB NOT NULL,
    "privateKey" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL,
    "signsFrom" TIMESTAMPTZ(3) NOT NULL,
    "revokedAt" TIMESTAMPTZ(3),

    CONSTRAINT "SigningKey_pkey" PRIMARY KEY ("kid")
);

-- CreateIndex
CREATE INDEX "SigningKey_signsFrom_idx" ON "SigningKey"("signsFrom");
