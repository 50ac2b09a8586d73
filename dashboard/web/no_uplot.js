// uPlot is not installed (bash .ci/setup runs npm ci in web/): the page shows no charts.
