// How a constraint violation is recognised, whichever layer raised it.

/** A unique-constraint violation, from a model query (P2002) or a raw one (P2010 carrying the driver's SQLSTATE 23505). */
export function isUniqueViolation (err: unknown): boolean {
  const e = err as { code?: string, meta?: { driverAdapterError?: { cause?: { originalCode?: string } } } } | undefined
  return e?.code === 'P2002' || // Prisma's query API
    (e?.code === 'P2010' && e.meta?.driverAdapterError?.cause?.originalCode === '23505') || // Prisma's $queryRaw
    e?.code === '23505' // the driver itself (Database.query), pg and PGlite alike
}
