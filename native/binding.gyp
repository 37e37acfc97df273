{
  "targets": [
    {
      "target_name": "clfsload_native",
      "sources": ["clfsload_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
