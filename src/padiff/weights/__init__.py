"""Weight transfer: pair every raw state with the base state(s) it is made from, and copy base into raw."""
