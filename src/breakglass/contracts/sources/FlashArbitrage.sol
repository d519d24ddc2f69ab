// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IERC20Like {
    function transfer(address to, uint256 amount) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
}

interface IUniswapV2PairLike {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function getReserves() external view returns (uint112, uint112, uint32);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}

/// @title FlashArbitrage
/// @notice A Uniswap V2 flash-swap borrower, for detection tests and drills.
/// @dev `run` flash-borrows `amount` of `borrowToken` from `lender`, sells it in `market`,
///      repays `lender` in the pair's other token and sends what is left to the caller.
contract FlashArbitrage {
    address private profitTo;

    function run(address lender, address market, address borrowToken, uint256 amount) external {
        profitTo = msg.sender;
        bool zero = IUniswapV2PairLike(lender).token0() == borrowToken;
        IUniswapV2PairLike(lender).swap(
            zero ? amount : 0, zero ? 0 : amount, address(this), abi.encode(market)
        );
    }

    function uniswapV2Call(address, uint256 amount0, uint256 amount1, bytes calldata data)
        external
    {
        IUniswapV2PairLike lender = IUniswapV2PairLike(msg.sender);
        address market = abi.decode(data, (address));
        bool zero = amount0 > 0;
        uint256 amount = zero ? amount0 : amount1;
        (address borrowed, address other) =
            zero ? (lender.token0(), lender.token1()) : (lender.token1(), lender.token0());
        _sell(market, borrowed, amount);
        // The lender's reserves are still those before the loan while its callback runs.
        (uint256 r0, uint256 r1,) = lender.getReserves();
        (uint256 reserveIn, uint256 reserveOut) = zero ? (r1, r0) : (r0, r1);
        uint256 owed = reserveIn * amount * 1000 / ((reserveOut - amount) * 997) + 1;
        IERC20Like(other).transfer(msg.sender, owed);
        IERC20Like(other).transfer(profitTo, IERC20Like(other).balanceOf(address(this)));
    }

    function _sell(address market, address tokenIn, uint256 amountIn) private {
        IUniswapV2PairLike pair = IUniswapV2PairLike(market);
        (uint256 r0, uint256 r1,) = pair.getReserves();
        bool zeroIn = pair.token0() == tokenIn;
        (uint256 reserveIn, uint256 reserveOut) = zeroIn ? (r0, r1) : (r1, r0);
        uint256 out = amountIn * 997 * reserveOut / (reserveIn * 1000 + amountIn * 997);
        IERC20Like(tokenIn).transfer(market, amountIn);
        pair.swap(zeroIn ? 0 : out, zeroIn ? out : 0, address(this), "");
    }
}
