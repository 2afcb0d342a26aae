//! Tests of the loader on clang-built objects.
