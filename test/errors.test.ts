// One class per error code (src/errors.ts): a code means one thing and is
// made in one place; where the same code is answered 401 at a sign-in or a
// resource, the status is chosen where it is thrown, not by a twin class.
import t from 'tap'
import * as errors from '../src/errors.ts'

t.test('every code has one class, and each class one code', async (t) => {
  const classes = Object.values(errors).filter((e) => typeof e === 'function' && e.prototype instanceof Error)
  const codes = classes.map((E) => new (E as new (...a: string[]) => { code: string })('x').code)
  t.equal(new Set(codes).size, codes.length, `${codes.length} classes, ${new Set(codes).size} codes`)
  t.same([...errors.errorCodes].sort(), [...new Set(codes)].sort(), 'errorCodes lists exactly the defined codes')
})

t.test('unauthorized() keeps the code and answers 401', async (t) => {
  for (const E of [errors.MfaCodeInvalidError, errors.PasskeyInvalidError, errors.UseDpopNonceError]) {
    const plain = new E()
    t.equal(plain.statusCode, 400, `${plain.code} at an enrolment or a token endpoint`)
    const err = errors.unauthorized(new E())
    t.equal(err.statusCode, 401, `${err.code} at a sign-in or a resource`)
    t.equal(err.code, plain.code)
  }
})
