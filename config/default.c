/*
 * default.c - the embedded default configuration (SPEC.md section 3), used
 * when indexmux runs without --config and printed by check-config.
 *
 * PyPI plus one explicit upstream per PyTorch accelerator variant; the view
 * `default` is PyPI alone, and each variant's view pins the PyTorch family
 * to its index everywhere but macOS (where PyTorch publishes to PyPI only).
 */
#include "compat.h"

#include "config.h"

#define DEFAULT_INDEX(v)                                                                     \
    "[[index]]\n"                                                                            \
    "name = \"pytorch-" v "\"\n"                                                            \
    "url = \"https://download.pytorch.org/whl/" v "/\"\n"                                   \
    "explicit = true\n\n"

#define DEFAULT_PIN(project, v)                                                              \
    project " = [{ index = \"pytorch-" v "\", marker = \"platform_system != 'Darwin'\" }]\n"

#define DEFAULT_VIEW(v, triton)                                                              \
    "[virtual.\"" v "\"]\n"                                                                  \
    "indexes = [\"pypi\"]\n"                                                                 \
    "[virtual.\"" v "\".sources]\n" DEFAULT_PIN("torch", v) DEFAULT_PIN("torchvision", v)    \
        DEFAULT_PIN("torchaudio", v) DEFAULT_PIN(triton, v) "\n"

static const char config_default_toml[] =
    "# indexmux embedded default configuration\n"
    "[server]\n"
    "listen = \"127.0.0.1:3144\"\n"
    "data-dir = \"./indexmux-data\"\n"
    "default = \"default\"\n\n"
    "[[index]]\n"
    "name = \"pypi\"\n"
    "url = \"https://pypi.org/simple/\"\n\n"
    DEFAULT_INDEX("cpu") DEFAULT_INDEX("cu118") DEFAULT_INDEX("cu121") DEFAULT_INDEX("cu124")
    DEFAULT_INDEX("cu126") DEFAULT_INDEX("cu128") DEFAULT_INDEX("rocm6.2")
    "[virtual.default]\n"
    "indexes = [\"pypi\"]\n\n"
    DEFAULT_VIEW("cpu", "triton") DEFAULT_VIEW("cu118", "triton") DEFAULT_VIEW("cu121", "triton")
    DEFAULT_VIEW("cu124", "triton") DEFAULT_VIEW("cu126", "triton")
    DEFAULT_VIEW("cu128", "triton") DEFAULT_VIEW("rocm6.2", "pytorch-triton-rocm");

const char *config_default_text(void)
{
    return config_default_toml;
}
