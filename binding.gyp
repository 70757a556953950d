{
  "targets": [
    {
      "target_name": "asl_native",
      "sources": ["native/asl_native.c", "native/asl_pack.c", "native/asl_common.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
