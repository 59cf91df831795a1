/* vmesh ear: placeholder until the module behind it lands (work in progress). */
#include "cli.h"

int cli_ear(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_usage_error("ear", "not built yet");
}
