/** Python shared by the nbdsh scripts of the NBD interop tests (top-level, no indentation). */

/** `expect_err(fn, "EINVAL")`: fn must raise nbd.Error with that errno name. */
export const PY_EXPECT_ERR = `def expect_err(fn, code):
    try:
        fn()
    except nbd.Error as e:
        assert e.errno == code, (e.errno, code)
        return
    raise AssertionError("no error")`;
