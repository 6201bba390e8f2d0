{#- Run-start check of the underwriting and scoring vars (defaults in dbt_project.yml, a
    market's overrides via --vars). Raises before any model runs when an invariant breaks. -#}
{% macro validate_vars() %}
    {%- set errors = [] -%}
    {%- do market_code_var() -%}
    {%- do as_of_month_var_date() -%}

    {%- set numeric_vars = [
        'arv_factor', 'offer_low_factor', 'wholesale_fee',
        'repair_light_per_sqft', 'repair_medium_per_sqft', 'repair_heavy_per_sqft',
        'repair_medium_min_age', 'repair_heavy_min_age', 'repair_low_quality_max',
        'comp_months', 'comp_fallback_months', 'comp_sqft_tolerance', 'comp_year_built_tolerance',
        'comp_min_count', 'comp_max_count', 'comp_size_exponent', 'comp_trend_min_sales',
        'comp_trend_max_monthly', 'confidence_market_area_factor', 'confidence_zip_factor',
        'signal_long_ownership_full_years', 'signal_long_ownership_half_years',
        'signal_distress_lookback_months', 'signal_distressed_sale_max_years',
        'signal_equity_ltv', 'signal_equity_loan_years', 'signal_equity_rate',
        'signal_equity_full_min', 'signal_equity_half_min',
        'tier_a_min', 'tier_b_plus_min', 'tier_b_min',
    ] -%}
    {%- for signal in lead_signal_names() -%}
        {%- do numeric_vars.append('score_' ~ signal) -%}
    {%- endfor -%}
    {%- for name in numeric_vars -%}
        {%- set value = var(name) -%}
        {%- if value is none or value is string or value is boolean or value is not number -%}
            {%- do errors.append(name ~ ' must be a number, got ' ~ value) -%}
        {%- elif value < 0 -%}
            {%- do errors.append(name ~ ' must not be negative, got ' ~ value) -%}
        {%- endif -%}
    {%- endfor -%}

    {%- set engine_version = var('engine_version') | string -%}
    {%- if not modules.re.fullmatch('[A-Za-z0-9._+-]+', engine_version) -%}
        {%- do errors.append('engine_version may hold only letters, digits and . _ + -, got ' ~ engine_version) -%}
    {%- endif -%}

    {%- if errors | length == 0 -%}
        {%- set total = namespace(points=0) -%}
        {%- for signal in lead_signal_names() -%}
            {%- set total.points = total.points + var('score_' ~ signal) -%}
        {%- endfor -%}
        {%- if total.points > 100 -%}
            {%- do errors.append('score weights sum to ' ~ total.points ~ ', more than 100') -%}
        {%- endif -%}
        {%- if not (var('tier_a_min') >= var('tier_b_plus_min') >= var('tier_b_min')) -%}
            {%- do errors.append('tiers must satisfy tier_a_min >= tier_b_plus_min >= tier_b_min') -%}
        {%- endif -%}
        {%- if var('comps_min_score', none) is not none and var('comps_min_score') is not number -%}
            {%- do errors.append('comps_min_score must be null or a number') -%}
        {%- endif -%}
        {%- if not (0 < var('offer_low_factor') <= var('arv_factor') <= 1) -%}
            {%- do errors.append('need 0 < offer_low_factor <= arv_factor <= 1') -%}
        {%- endif -%}
        {%- if not (1 <= var('comp_months') <= var('comp_fallback_months')) -%}
            {%- do errors.append('need 1 <= comp_months <= comp_fallback_months') -%}
        {%- endif -%}
        {%- if not (1 <= var('comp_min_count') <= var('comp_max_count')) -%}
            {%- do errors.append('need 1 <= comp_min_count <= comp_max_count') -%}
        {%- endif -%}
        {%- if not (0 < var('comp_sqft_tolerance') < 1) -%}
            {%- do errors.append('comp_sqft_tolerance must be above 0 and below 1') -%}
        {%- endif -%}
        {%- if not (var('repair_light_per_sqft') <= var('repair_medium_per_sqft') <= var('repair_heavy_per_sqft')) -%}
            {%- do errors.append('need repair_light_per_sqft <= repair_medium_per_sqft <= repair_heavy_per_sqft') -%}
        {%- endif -%}
        {%- if not (var('repair_medium_min_age') <= var('repair_heavy_min_age')) -%}
            {%- do errors.append('need repair_medium_min_age <= repair_heavy_min_age') -%}
        {%- endif -%}
        {%- if not (var('signal_long_ownership_half_years') <= var('signal_long_ownership_full_years')) -%}
            {%- do errors.append('need signal_long_ownership_half_years <= signal_long_ownership_full_years') -%}
        {%- endif -%}
        {%- if not (var('signal_equity_half_min') <= var('signal_equity_full_min')) -%}
            {%- do errors.append('need signal_equity_half_min <= signal_equity_full_min') -%}
        {%- endif -%}
        {%- if not (var('confidence_market_area_factor') <= 1 and var('confidence_zip_factor') <= 1) -%}
            {%- do errors.append('confidence level factors must be in 0..1') -%}
        {%- endif -%}
        {%- if not (var('signal_equity_loan_years') >= 1) -%}
            {%- do errors.append('signal_equity_loan_years must be at least 1') -%}
        {%- endif -%}
    {%- endif -%}

    {%- if errors | length > 0 -%}
        {{ exceptions.raise_compiler_error('invalid dbt vars: ' ~ (errors | join('; '))) }}
    {%- endif -%}
    select 1 as vars_ok
{% endmacro %}
