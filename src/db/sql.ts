// SQL shared by the statements sent straight to the driver, and how a
// constraint violation is recognised whichever layer raised it.

/** A user's roles as a sorted text[]: the user's row is `u`. */
export const ROLES_OF_U = 'COALESCE((SELECT array_agg(r."roleName"::text ORDER BY r."roleName") FROM "UserRole" r WHERE r."userId" = u.id), \'{}\'::text[])'

/** The same roles through Prisma's query API. */
export const userWithRoles = { roles: { select: { roleName: true }, orderBy: { roleName: 'asc' as const } } }

/** A unique-constraint violation, from a model query (P2002) or a raw one (P2010 carrying the driver's SQLSTATE 23505). */
export function isUniqueViolation (err: unknown): boolean {
  const e = err as { code?: string, meta?: { driverAdapterError?: { cause?: { originalCode?: string } } } } | undefined
  return e?.code === 'P2002' || // Prisma's query API
    (e?.code === 'P2010' && e.meta?.driverAdapterError?.cause?.originalCode === '23505') || // Prisma's $queryRaw
    e?.code === '23505' // the driver itself (Database.query), pg and PGlite alike
}
