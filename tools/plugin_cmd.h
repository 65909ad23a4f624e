// soma plugin new | check — the plugin author's commands of the soma CLI.
#ifndef SOMA_TOOLS_PLUGIN_CMD_H
#define SOMA_TOOLS_PLUGIN_CMD_H

// argv[0] is the first word after "plugin". Returns the exit status: 0 all
// good, 1 a check failed or the library reported an error, 2 a usage error.
int soma_plugin_cmd(int argc, char **argv);

#endif
