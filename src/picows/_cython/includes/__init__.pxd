# C declarations used by the compiled backend, gathered in one place (build time only).
