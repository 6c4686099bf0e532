-- AlterTable
ALTER TABLE "Session" ADD COLUMN     "dpopJkt" VARCHAR(43);
