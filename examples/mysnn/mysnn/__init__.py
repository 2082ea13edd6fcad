"""mysnn: an example of a user's own spiking neurons, written without snnbench in mind."""
