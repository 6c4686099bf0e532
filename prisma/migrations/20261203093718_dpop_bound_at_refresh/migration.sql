-- AlterTable
ALTER TABLE "Session" ADD COLUMN     "dpopBoundAtRefresh" BOOLEAN NOT NULL DEFAULT false;
