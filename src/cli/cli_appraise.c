/* vmesh appraise: placeholder until the module behind it lands (work in progress). */
#include "cli.h"

int cli_appraise(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_usage_error("appraise", "not built yet");
}
