use adc_e2e::*;
