"""From-the-formula implementations used to teach neural-network foundations (chapter 00).

These deliberately re-implement what torch already provides, so that a student can read
the formula in code and see it agree with the library (tests check that it does).
"""
