// Ids are UUIDs made by randomUUID(); anything else cannot name a row, so it
// is answered without a query.
const ID = /^[0-9a-f-]{36}$/i

export function isId (value: string): boolean {
  return ID.test(value)
}
