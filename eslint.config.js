import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['src/generated/**', 'dist/**', 'node_modules/**', 'examples/**/dist/**', '.tap/**']
})
