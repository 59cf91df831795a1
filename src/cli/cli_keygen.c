/* vmesh keygen: placeholder until the module behind it lands (work in progress). */
#include "cli.h"

int cli_keygen(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_usage_error("keygen", "not built yet");
}
