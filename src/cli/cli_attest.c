/* vmesh attest: placeholder until the module behind it lands (work in progress). */
#include "cli.h"

int cli_attest(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_usage_error("attest", "not built yet");
}
