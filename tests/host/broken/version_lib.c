/* A stand-in for a vendor runtime, for the tests of package requirements: a library that
 * reports version 12.4 the way CUDA's runtime does (12040 through an int out-parameter). */
__attribute__((visibility("default"))) int fake_runtime_version(int *version) {
    *version = 12040;
    return 0;
}
