"""Build of the one compiled module, the store writer's hot path (store/_ingest*.c; `store.native`
says what it does). Everything else about the distribution is in pyproject.toml; this file only
exists because setuptools' pyproject-only way to declare a C extension is still experimental.
It needs the C compiler and Python headers that every supported machine has."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "store._ingest",
            sources=["store/_ingest.c", "store/_ingest_parse.c", "store/_ingest_records.c"],
            depends=["store/_ingest_msgpack.h", "store/_ingest_parse.h", "store/_ingest_records.h"],
            extra_compile_args=[
                "-O3",
                "-Wall",
                "-Wextra",
                "-Wno-unused-parameter",
                "-Wno-missing-field-initializers",
                "-Werror",
            ],
        )
    ]
)
