-- Intermediate: one row per market and use family with the monthly price trend of comparable
-- sales, used to time-adjust comps: least-squares slope of the monthly MEDIAN log $/sqft on the
-- month (medians resist flips and outliers; exact decimal sums keep it deterministic).
with

monthly as (

    select
        market_code,
        use_family,
        -- x: months since the start of the window (sign flipped so a rising market is positive)
        -months_before_as_of as month_index,
        count(*) as sale_count,
        cast(
            percentile_cont(0.5) within group (order by ln(price_per_sqft)) as decimal(18, 8)
        ) as median_log_price_per_sqft
    from {{ ref('int_comp_sales') }}
    where {{ market_filter() }}
        and price_per_sqft > 0
    group by market_code, use_family, -months_before_as_of

),

sums as (

    select
        market_code,
        use_family,
        sum(sale_count) as sale_count,
        count(*) as month_count,
        cast(sum(month_index) as decimal(18, 0)) as sum_x,
        sum(median_log_price_per_sqft) as sum_y,
        cast(sum(month_index * month_index) as decimal(18, 0)) as sum_xx,
        sum(month_index * median_log_price_per_sqft) as sum_xy
    from monthly
    group by market_code, use_family

),

fitted as (

    select
        market_code,
        use_family,
        sale_count,
        month_count,
        case
            when month_count * sum_xx - sum_x * sum_x > 0
                then cast(month_count * sum_xy - sum_x * sum_y as {{ type_double() }})
                    / cast(month_count * sum_xx - sum_x * sum_x as {{ type_double() }})
        end as raw_monthly_trend
    from sums

)

select
    market_code,
    use_family,
    sale_count,
    month_count,
    round(raw_monthly_trend, 6) as raw_monthly_trend,
    -- no adjustment on thin data: fewer than comp_trend_min_sales sales or 6 months with sales
    case
        when sale_count >= {{ var('comp_trend_min_sales') }}
            and month_count >= 6
            and raw_monthly_trend is not null
            then round(
                greatest(
                    -{{ var('comp_trend_max_monthly') }},
                    least({{ var('comp_trend_max_monthly') }}, raw_monthly_trend)
                ),
                6
            )
        else 0
    end as monthly_trend
from fitted
