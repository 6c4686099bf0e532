// Ids are UUIDs made by randomUUID(); anything else cannot name a row, so it
// is answered without a query (and never reaches PostgreSQL's uuid parser).
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isId (value: string): boolean {
  return ID.test(value)
}
