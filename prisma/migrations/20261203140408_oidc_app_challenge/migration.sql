-- AlterTable
ALTER TABLE "OidcLoginCode" ADD COLUMN     "appChallenge" VARCHAR(64);

-- AlterTable
ALTER TABLE "OidcTransaction" ADD COLUMN     "appChallenge" VARCHAR(64);
